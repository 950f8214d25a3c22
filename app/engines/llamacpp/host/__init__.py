"""Host-only parts of this engine folder (the build hook): not shipped in the app wheel the page loads."""
