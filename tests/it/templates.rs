//! Integration tests of the `templates` module's repository, run as `mixerai_app` through scopes.
