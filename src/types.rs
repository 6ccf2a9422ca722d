//! Value types and typed ids (temporary stub; replaced by the types branch).
macro_rules! id {
    ($name:ident) => {
        /// id
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            sqlx::Type,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);
        #[allow(clippy::new_without_default)] // stub: the types branch replaces this file
        impl $name {
            /// new
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4())
            }
            /// from
            pub fn from_uuid(u: uuid::Uuid) -> Self {
                Self(u)
            }
            /// as
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
id!(UserId);
id!(BrandId);
id!(ContentId);
