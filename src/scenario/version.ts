// The version of the scenario format and of the result JSON (DESIGN.md), apart from the zod schema so
// that running a scenario does not load zod just to print this number.

export const SCHEMA_VERSION = 1;
