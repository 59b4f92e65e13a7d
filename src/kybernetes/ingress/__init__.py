"""The ingress controller: Ingresses of the `nginx` IngressClass served by Debian's nginx on
every node, as ingress-nginx does (an API client: informers in, an nginx configuration out).
"""
