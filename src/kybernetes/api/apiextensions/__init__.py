"""CustomResourceDefinitions without the server: what upstream's apiextensions-apiserver
does to a schema and to the objects it describes.

- `structural`: is a CRD's OpenAPI v3 schema structural (upstream's messages);
- `schemavalidation`: an object against a schema (types, formats, enums, bounds, required,
  nullable, int-or-string, list types), kube-openapi's messages as field errors, with the
  string formats of `formats` and the Go patterns of `goregex`;
- `pruning` and `defaulting`: unknown fields dropped, defaults filled;
- `cel`: `x-kubernetes-validations` rules, compiled once, run on objects and transitions;
- `crdvalidation`: the CustomResourceDefinition object itself;
- `columns`: additionalPrinterColumns as a Table.

Schemas are the decoded JSON of `JSONSchemaProps`; objects are decoded JSON dicts.
"""
