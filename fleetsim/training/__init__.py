"""Training jobs: the job process (job.py), its segment timeline (timeline.py), step-time
models (steptime.py, stepmodel.py), the parallel plan and memory (plan.py), costs (costs.py),
checkpoint policies (checkpoint.py) and modes (checkpointing.py).

Import the submodules directly.
"""
