"""The hardware edge: each driver has a real backend and a faithful simulated one."""
