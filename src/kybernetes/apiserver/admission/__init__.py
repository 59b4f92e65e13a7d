"""Built-in admission plugins: mutations the API server applies to objects on their way
into storage, one module per upstream plugin (`plugin/pkg/admission/<name>`)."""
