"""The demo: every role as a child process, a live view, a timeline and a report."""
