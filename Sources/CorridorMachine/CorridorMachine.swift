// CorridorMachine: placeholder until the state machine lands.
import SignalTiming
