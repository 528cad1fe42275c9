//! The macro that turns the limits table into types and functions.

/// Generates, from one table, [`LimitsOverride`], [`LimitField::ALL`],
/// [`Limits::with`], [`Limits::DEFAULT`] and [`Limits::DEFAULT_MAX`].
macro_rules! limit_table {
    (
        settable { $(
            #[doc = $doc:literal]
            $name:ident : $ty:ty = $($slot:ident).+ , $unit:ident ,
                min $min:expr , default $default:expr , max $max:expr ;
        )+ }
        fixed { $(
            $($fixed:ident).+ : default $fixed_default:expr , max $fixed_max:expr ;
        )+ }
    ) => {
        /// A client's or a language's adjustments to the limits. Every field
        /// is optional; the ones present replace the base value.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct LimitsOverride {
            $( #[doc = $doc] pub $name: Option<$ty>, )+
        }

        impl LimitField {
            /// Every limit a request may set, in the table's order.
            pub const ALL: &'static [LimitField] = &[ $(
                LimitField {
                    name: stringify!($name),
                    doc: $doc,
                    unit: LimitUnit::$unit,
                    scope: limit_table!(@scope $($slot).+),
                    min: $min,
                    default: $default,
                    default_max: $max,
                    value: |l| l.$($slot).+ as u64,
                    requested: |o| o.$name.map(|v| v as u64),
                    request: |o, v| {
                        o.$name = Some(<$ty>::try_from(v).map_err(|_| ())?);
                        Ok(())
                    },
                },
            )+ ];

            /// The wire names of [`LimitField::ALL`], in order.
            pub const NAMES: &'static [&'static str] = &[ $( stringify!($name), )+ ];
        }

        impl Limits {
            /// Monaco's defaults: the table's `default` column.
            pub const DEFAULT: Limits = {
                let mut l = Limits::ZERO;
                $( l.$($slot).+ = $default; )+
                $( l.$($fixed).+ = $fixed_default; )+
                l
            };

            /// The most a request may ask for unless the operator says
            /// otherwise: the table's `max` column.
            pub const DEFAULT_MAX: Limits = {
                let mut l = Limits::ZERO;
                $( l.$($slot).+ = $max; )+
                $( l.$($fixed).+ = $fixed_max; )+
                l
            };

            /// These limits with `o`'s present fields replacing the base values.
            pub fn with(mut self, o: &LimitsOverride) -> Limits {
                $( if let Some(v) = o.$name { self.$($slot).+ = v; } )+
                self
            }
        }
    };
    (@scope run . $field:ident) => { LimitScope::Run };
    (@scope compile . $field:ident) => { LimitScope::Compile };
    (@scope $field:ident) => { LimitScope::Shared };
}
