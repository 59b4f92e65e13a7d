"""Pure API machinery: the resource registry, schemas, defaults, validation, selectors, errors."""
