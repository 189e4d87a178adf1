// Integration tests deploy to the lab for real: image pulls and health waits take minutes.
jest.setTimeout(600_000);
