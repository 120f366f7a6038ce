//! Serde support for types that travel as strings and are validated on the way in: the
//! deserializer runs the type's `FromStr`, so an invalid code never gets past deserialization.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Visitor};

use crate::error::CodeError;

/// Deserializes a string and parses it with `T::from_str`.
pub(crate) fn deserialize<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    T: FromStr<Err = CodeError>,
{
    deserializer.deserialize_str(ParseVisitor {
        expecting,
        marker: PhantomData,
    })
}

struct ParseVisitor<T> {
    expecting: &'static str,
    marker: PhantomData<T>,
}

impl<T: FromStr<Err = CodeError>> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// A serializer for tests that records the one scalar a value serializes to.
#[cfg(test)]
pub(crate) mod capture {
    use serde::de::value::Error;
    use serde::ser::{self, Impossible, Serialize};

    /// What a value serialized to.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum Scalar {
        Str(String),
        I64(i64),
    }

    /// Serializes `value`, which must serialize to a single string or i64.
    pub(crate) fn scalar<T: Serialize + ?Sized>(value: &T) -> Result<Scalar, Error> {
        value.serialize(Capture)
    }

    struct Capture;

    macro_rules! unsupported {
        ($($method:ident($($arg:ty),*) -> $ret:ty;)*) => {$(
            fn $method(self, $(_: $arg),*) -> Result<$ret, Error> {
                Err(ser::Error::custom(concat!("unsupported: ", stringify!($method))))
            }
        )*};
    }

    impl ser::Serializer for Capture {
        type Ok = Scalar;
        type Error = Error;
        type SerializeSeq = Impossible<Scalar, Error>;
        type SerializeTuple = Impossible<Scalar, Error>;
        type SerializeTupleStruct = Impossible<Scalar, Error>;
        type SerializeTupleVariant = Impossible<Scalar, Error>;
        type SerializeMap = Impossible<Scalar, Error>;
        type SerializeStruct = Impossible<Scalar, Error>;
        type SerializeStructVariant = Impossible<Scalar, Error>;

        fn serialize_str(self, v: &str) -> Result<Scalar, Error> {
            Ok(Scalar::Str(v.to_owned()))
        }

        fn serialize_i64(self, v: i64) -> Result<Scalar, Error> {
            Ok(Scalar::I64(v))
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<Scalar, Error> {
            value.serialize(self)
        }

        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Scalar, Error> {
            Err(ser::Error::custom("unsupported: serialize_some"))
        }

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Scalar, Error> {
            Err(ser::Error::custom("unsupported: serialize_newtype_variant"))
        }

        unsupported! {
            serialize_bool(bool) -> Scalar;
            serialize_i8(i8) -> Scalar;
            serialize_i16(i16) -> Scalar;
            serialize_i32(i32) -> Scalar;
            serialize_u8(u8) -> Scalar;
            serialize_u16(u16) -> Scalar;
            serialize_u32(u32) -> Scalar;
            serialize_u64(u64) -> Scalar;
            serialize_f32(f32) -> Scalar;
            serialize_f64(f64) -> Scalar;
            serialize_char(char) -> Scalar;
            serialize_bytes(&[u8]) -> Scalar;
            serialize_none() -> Scalar;
            serialize_unit() -> Scalar;
            serialize_unit_struct(&'static str) -> Scalar;
            serialize_unit_variant(&'static str, u32, &'static str) -> Scalar;
            serialize_seq(Option<usize>) -> Self::SerializeSeq;
            serialize_tuple(usize) -> Self::SerializeTuple;
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
            serialize_tuple_variant(&'static str, u32, &'static str, usize)
                -> Self::SerializeTupleVariant;
            serialize_map(Option<usize>) -> Self::SerializeMap;
            serialize_struct(&'static str, usize) -> Self::SerializeStruct;
            serialize_struct_variant(&'static str, u32, &'static str, usize)
                -> Self::SerializeStructVariant;
        }
    }
}
