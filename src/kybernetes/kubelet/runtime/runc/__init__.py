"""The real container runtime: runc behind the CRI-shaped `cri.ContainerRuntime`.

- `runtime.RuncRuntime`: the interface, over on-disk state a restarted kubelet adopts;
- `sandbox`: pod sandboxes as namespaces pinned by bind mounts (no pause container);
- `rootfs`: overlayfs over the image's unpacked layers; `spec`: the OCI config.json;
- `conmon`: the per-container monitor (CRI-O's conmon: logs, exit status, OOM, stdio),
  outliving the kubelet; `attach`: joining a container's stdio through it;
- `exec`: `runc exec`, synchronous for probes and streaming for the exec endpoint;
- `state`: the on-disk layout; `proc`: running the host tools.
"""
