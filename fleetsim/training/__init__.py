"""Training jobs: the job process (job.py), step-time models (steptime.py, stepmodel.py),
architectures (architecture.py), memory (memory.py) and checkpoint policies (checkpoint.py).

Import the submodules directly; this package imports nothing so that the scenario schema can
use :mod:`fleetsim.scenario.architecture` without an import cycle.
"""
