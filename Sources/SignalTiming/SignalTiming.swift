// SignalTiming: placeholder until the timing model lands.
