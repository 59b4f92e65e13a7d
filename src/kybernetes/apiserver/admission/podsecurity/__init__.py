"""Pod Security Admission (`staging/src/k8s.io/pod-security-admission`): the Pod Security
Standards (privileged, baseline, restricted) applied from namespace labels. `policy` reads
the labels, `checks` holds the check registry, `baseline` and `restricted` the checks of
each level, `admission` the plugin."""
