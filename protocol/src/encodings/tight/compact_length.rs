//! Tight's compact length (community RFB spec, "Tight Encoding", JpegCompression): a value
//! below 2^22 in one to three bytes, seven bits per byte with the top bit saying "more
//! follows", the third byte carrying the last eight bits whole.

/// The largest value a compact length can carry.
pub const MAX_COMPACT_LENGTH: usize = (1 << 22) - 1;

/// Appends `value` (at most [`MAX_COMPACT_LENGTH`]) in compact form.
pub fn write(value: usize, out: &mut Vec<u8>) {
    debug_assert!(
        value <= MAX_COMPACT_LENGTH,
        "compact length {value} too large"
    );
    let low = (value & 0x7f) as u8;
    if value < 1 << 7 {
        out.push(low);
        return;
    }
    let middle = ((value >> 7) & 0x7f) as u8;
    if value < 1 << 14 {
        out.extend_from_slice(&[low | 0x80, middle]);
        return;
    }
    out.extend_from_slice(&[low | 0x80, middle | 0x80, (value >> 14) as u8]);
}

/// Reads a compact length from the start of `bytes`: the value and how many bytes it took,
/// or `None` when the bytes stop before it does.
pub fn read(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    let mut value = usize::from(first & 0x7f);
    if first & 0x80 == 0 {
        return Some((value, 1));
    }
    let second = *bytes.get(1)?;
    value |= usize::from(second & 0x7f) << 7;
    if second & 0x80 == 0 {
        return Some((value, 2));
    }
    let third = *bytes.get(2)?;
    value |= usize::from(third) << 14;
    Some((value, 3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_spec_example_and_the_boundaries() {
        // The spec's own example: 10000 is 90 4E.
        let mut out = Vec::new();
        write(10000, &mut out);
        assert_eq!(out, [0x90, 0x4e]);
        for (value, bytes) in [
            (0usize, vec![0x00]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (16383, vec![0xff, 0x7f]),
            (16384, vec![0x80, 0x80, 0x01]),
            // Three bytes: low 7 bits 0x23, next 7 bits 0x45, top 8 bits 0xa7.
            ((0xa7 << 14) | (0x45 << 7) | 0x23, vec![0xa3, 0xc5, 0xa7]),
            (MAX_COMPACT_LENGTH, vec![0xff, 0xff, 0xff]),
        ] {
            let mut out = Vec::new();
            write(value, &mut out);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(read(&bytes), Some((value, bytes.len())));
            for cut in 0..bytes.len() {
                assert_eq!(read(&bytes[..cut]), None, "{value} cut at {cut}");
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(value in 0..=MAX_COMPACT_LENGTH, tail: Vec<u8>) {
            let mut out = Vec::new();
            write(value, &mut out);
            let used = out.len();
            out.extend_from_slice(&tail);
            prop_assert_eq!(read(&out), Some((value, used)));
        }
    }
}
