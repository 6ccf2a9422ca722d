//! Integration tests of the `claims` module's repository, run as `mixerai_app` through scopes.
