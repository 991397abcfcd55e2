"""The web UI's files (HTML, CSS, one ES module), served by `trainset.api.web`."""
