// CorridorFile: placeholder until the YAML reader lands.
import SignalTiming
