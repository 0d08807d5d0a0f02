"""The zoo: design files written as plausible patches, each a thinko beside its correct twin
(tests/test_zoo.py runs them; docs/designs/your-patch.md says what each one shows)."""
