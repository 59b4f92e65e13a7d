"""The persistent volume controllers of kube-controller-manager: the binder
(`binder.py`), the finalizers that keep claims and volumes while in use
(`pvcprotection.py`, `pvprotection.py`), expansion (`expand.py`) and the claims of pods'
ephemeral volumes (`ephemeral.py`)."""
