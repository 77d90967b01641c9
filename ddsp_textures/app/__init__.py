"""The application shell: command line, streaming to files and pipes, run reports and notebook widgets."""
