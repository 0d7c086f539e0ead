/// Column types (spec §5.3); the numbers are Feast's `ValueType` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Type {
    Bytes = 1,
    String = 2,
    Int32 = 3,
    Int64 = 4,
    Double = 5,
    Float = 6,
    Bool = 7,
    UnixTimestamp = 8,
    BytesList = 11,
    StringList = 12,
    Int32List = 13,
    Int64List = 14,
    DoubleList = 15,
    FloatList = 16,
    BoolList = 17,
    UnixTimestampList = 18,
    Null = 19,
    Status = 64,
}

const ALL: [Type; 18] = [
    Type::Bytes, Type::String, Type::Int32, Type::Int64, Type::Double, Type::Float, Type::Bool,
    Type::UnixTimestamp, Type::BytesList, Type::StringList, Type::Int32List, Type::Int64List,
    Type::DoubleList, Type::FloatList, Type::BoolList, Type::UnixTimestampList, Type::Null, Type::Status,
];

impl Type {
    pub fn from_id(id: u16) -> Option<Type> {
        ALL.iter().copied().find(|t| *t as u16 == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            Type::Bytes => "BYTES",
            Type::String => "STRING",
            Type::Int32 => "INT32",
            Type::Int64 => "INT64",
            Type::Double => "DOUBLE",
            Type::Float => "FLOAT",
            Type::Bool => "BOOL",
            Type::UnixTimestamp => "UNIX_TIMESTAMP",
            Type::BytesList => "BYTES_LIST",
            Type::StringList => "STRING_LIST",
            Type::Int32List => "INT32_LIST",
            Type::Int64List => "INT64_LIST",
            Type::DoubleList => "DOUBLE_LIST",
            Type::FloatList => "FLOAT_LIST",
            Type::BoolList => "BOOL_LIST",
            Type::UnixTimestampList => "UNIX_TIMESTAMP_LIST",
            Type::Null => "NULL",
            Type::Status => "STATUS",
        }
    }

    pub fn from_name(name: &str) -> Option<Type> {
        ALL.iter().copied().find(|t| t.name() == name)
    }

    pub fn is_list(self) -> bool {
        (self as u16) >= 11 && (self as u16) <= 18
    }

    /// The element type of a list type, or the type itself.
    pub fn elem(self) -> Type {
        if self.is_list() {
            Type::from_id(self as u16 - 10).unwrap_or(self)
        } else {
            self
        }
    }

    /// Byte width of one fixed-width value or element; 0 for variable-width or bit-packed.
    pub(crate) fn width(self) -> usize {
        match self.elem() {
            Type::Int32 | Type::Float => 4,
            Type::Int64 | Type::Double | Type::UnixTimestamp => 8,
            Type::Status => 1,
            _ => 0,
        }
    }

    pub(crate) fn var_width(self) -> bool {
        matches!(self.elem(), Type::Bytes | Type::String)
    }
}

/// Feast's per-value status (spec §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FieldStatus {
    Invalid = 0,
    Present = 1,
    NullValue = 2,
    NotFound = 3,
    OutsideMaxAge = 4,
}

impl FieldStatus {
    pub fn from_u8(v: u8) -> FieldStatus {
        match v {
            1 => FieldStatus::Present,
            2 => FieldStatus::NullValue,
            3 => FieldStatus::NotFound,
            4 => FieldStatus::OutsideMaxAge,
            _ => FieldStatus::Invalid,
        }
    }
}
