"""The kubelet's certificates, obtained through the certificates API so that no node ever
holds the cluster CA's key (upstream's `pkg/kubelet/certificate` and client-go's
`util/certificate`):

- `credential`: a certificate and its key in one PEM file (`kubelet-*-current.pem`);
- `csr`: keys, certificate requests, creating a CertificateSigningRequest and waiting for
  its certificate;
- `bootstrap`: joining with a node token: trust the CA by its hash, get the first client
  certificate with the bootstrap token, write `kubelet.kubeconfig`;
- `manager`: keeping a certificate current: rotation at 70-90% of its life, and at once
  when it no longer matches what the node needs.
"""
