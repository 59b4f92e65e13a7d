"""Defaulting, as upstream's `SetObjectDefaults_*` for each served kind, one module per
group of kinds (`core`, `apps`, `batch`, ...).

Each `default_<kind>(obj)` mutates a decoded object in place; it is what upstream runs on
every decode (create, update, and reads from storage), so it is idempotent. What upstream
sets only on create, outside defaulting (the Job selector, the namespace `kubernetes`
finalizer), is a separate function its strategy calls at create. A resource's strategy
(apiserver/strategies) says which of these apply to it. A pod's priority is the Priority
admission plugin's (apiserver/admission/priority.py), not a default.
"""
