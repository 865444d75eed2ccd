//! Generated avatars: a symmetric 5×5 pattern in one colour, as GitHub's identicons.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

const GRID: u32 = 5;
const CELL: u32 = 64;
const MARGIN: u32 = 32;
pub const SIDE: u32 = GRID * CELL + 2 * MARGIN;

/// Renders the identicon of `seed` as PNG.
pub fn render(seed: &[u8; 16]) -> anyhow::Result<Vec<u8>> {
    let colour = Rgb([seed[0] / 2 + 64, seed[1] / 2 + 64, seed[2] / 2 + 64]);
    let background = Rgb([240, 240, 240]);
    let mut image = RgbImage::from_pixel(SIDE, SIDE, background);
    for row in 0..GRID {
        for column in 0..GRID.div_ceil(2) {
            let bit = row * 3 + column;
            let filled = seed[3 + (bit / 8) as usize] >> (bit % 8) & 1 == 1;
            if !filled {
                continue;
            }
            // the right half mirrors the left
            for painted in [column, GRID - 1 - column] {
                let x0 = MARGIN + painted * CELL;
                let y0 = MARGIN + row * CELL;
                for y in y0..y0 + CELL {
                    for x in x0..x0 + CELL {
                        image.put_pixel(x, y, colour);
                    }
                }
            }
        }
    }
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identicons_are_symmetric_pngs_that_depend_on_the_seed() {
        let seed = [7u8; 16];
        let png = render(&seed).unwrap();
        let image = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (SIDE, SIDE));
        for y in 0..SIDE {
            for x in 0..SIDE {
                assert_eq!(image.get_pixel(x, y), image.get_pixel(SIDE - 1 - x, y));
            }
        }
        assert_eq!(png, render(&seed).unwrap());
        assert_ne!(png, render(&[9u8; 16]).unwrap());
    }
}
