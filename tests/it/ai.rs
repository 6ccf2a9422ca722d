//! Integration tests of the `ai` module's repository, run as `mixerai_app` through scopes.
