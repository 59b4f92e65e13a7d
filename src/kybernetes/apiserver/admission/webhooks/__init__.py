"""Upstream's MutatingAdmissionWebhook and ValidatingAdmissionWebhook admission plugins
(`k8s.io/apiserver/pkg/admission/plugin/webhook`): the webhook configurations the cluster
holds (`configurations`), which requests each webhook sees (`matching`), the
AdmissionReview sent (`review`) over HTTPS (`client`) and the two plugins (`dispatch`).
The ValidatingAdmissionPolicy plugin (`policies`) shares their matching and CEL."""
