//! Shared helpers of the black-box tests; the tests are the `[[test]]` targets of this package.
