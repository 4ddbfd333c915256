"""A local, faithful Infobip simulator (real HTTP) for the demo and the tests."""

from simulator.scenario import PRESETS, Scenario, load_scenario
from simulator.server import SimulatorServer, serve, serve_in_thread

__all__ = ["PRESETS", "Scenario", "SimulatorServer", "load_scenario", "serve", "serve_in_thread"]
