//! Integration tests of the `brands` module's repository, run as `mixerai_app` through scopes.
