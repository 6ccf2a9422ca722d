//! Integration tests of the `content` module's repository, run as `mixerai_app` through scopes.
