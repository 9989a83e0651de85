int floodlight_shim_placeholder(void) { return 0; }
