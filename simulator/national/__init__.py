"""The simulated national election day (``pcos sim national``).

* :mod:`.faults`: fault rates (2021 figures) and each station's drawn fault plan;
* :mod:`.intent`: what each voter meant (the reading the no-image path feeds the
  firmware) and the ground truth of a station's ballot boxes;
* :mod:`.station`: one station's day through the real firmware and protocol (the unit
  of work a process pool or Dask worker runs);
* :mod:`.run`: the coordinator: one real CEC server, the schedulers, the checks;
* :mod:`.report`: the HTML report with its PNG plots.
"""
