"""The native engine's host side: its engine class over the binding, and the binding's wheel (left out of the app wheel)."""
