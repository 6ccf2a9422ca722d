//! Integration tests of the `workflows` module's repository, run as `mixerai_app` through scopes.
