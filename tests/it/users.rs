//! Integration tests of the `users` module's repository, run as `mixerai_app` through scopes.
