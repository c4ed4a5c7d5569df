"""A loopback Baidu Index emulator: the same protocol, a simulated world (source 'emulator')."""
