package com.melanomaexp.core

/**
 * EXIF orientation, applied to pixels exactly like Pillow's `ImageOps.exif_transpose` on the
 * server, so a portrait photo reaches the model upright on both sides. Values follow the EXIF
 * standard: 1 upright, 2 mirrored, 3 rotated 180°, 4 flipped, 5 transposed, 6 needs 90° clockwise,
 * 7 transversed, 8 needs 90° counter-clockwise.
 */
object Orientation {
    /** Returns [image] upright for EXIF [orientation]; unknown values leave it unchanged. */
    fun apply(image: ArgbImage, orientation: Int): ArgbImage {
        if (orientation !in 2..8) return image
        val w = image.width
        val h = image.height
        val swaps = orientation >= 5
        val ow = if (swaps) h else w
        val oh = if (swaps) w else h
        val out = IntArray(ow * oh)
        for (y in 0 until oh) {
            for (x in 0 until ow) {
                val (sx, sy) = when (orientation) {
                    2 -> (w - 1 - x) to y
                    3 -> (w - 1 - x) to (h - 1 - y)
                    4 -> x to (h - 1 - y)
                    5 -> y to x
                    6 -> y to (h - 1 - x)
                    7 -> (w - 1 - y) to (h - 1 - x)
                    else -> (w - 1 - y) to x // 8
                }
                out[y * ow + x] = image.pixels[sy * w + sx]
            }
        }
        return ArgbImage(ow, oh, out)
    }

    /** True when [orientation] swaps width and height. */
    fun swapsSides(orientation: Int): Boolean = orientation in 5..8

    /**
     * Reads the orientation tag (0x0112) from a JPEG's EXIF block; 1 when there is none or the bytes
     * are not a JPEG. Only the headers are read, never the pixels.
     */
    fun fromJpeg(bytes: ByteArray): Int {
        if (bytes.size < 4 || u8(bytes, 0) != 0xFF || u8(bytes, 1) != 0xD8) return 1
        var pos = 2
        while (pos + 4 <= bytes.size && u8(bytes, pos) == 0xFF) {
            val marker = u8(bytes, pos + 1)
            if (marker == 0xDA || marker == 0xD9) break // start of scan / end: no more metadata
            val length = (u8(bytes, pos + 2) shl 8) or u8(bytes, pos + 3)
            if (length < 2) break
            val start = pos + 4
            if (marker == 0xE1 && start + 6 <= bytes.size && String(bytes, start, 6, Charsets.ISO_8859_1) == "Exif\u0000\u0000") {
                return tiffOrientation(bytes, start + 6, minOf(bytes.size, pos + 2 + length))
            }
            pos += 2 + length
        }
        return 1
    }

    private fun tiffOrientation(b: ByteArray, tiff: Int, end: Int): Int {
        if (tiff + 8 > end) return 1
        val little = b[tiff] == 'I'.code.toByte()
        fun u16(at: Int) = if (little) u8(b, at) or (u8(b, at + 1) shl 8) else (u8(b, at) shl 8) or u8(b, at + 1)
        fun u32(at: Int) = if (little) u16(at) or (u16(at + 2) shl 16) else (u16(at) shl 16) or u16(at + 2)
        val ifd = tiff + u32(tiff + 4)
        if (ifd + 2 > end) return 1
        val count = u16(ifd)
        for (i in 0 until count) {
            val entry = ifd + 2 + 12 * i
            if (entry + 12 > end) break
            if (u16(entry) == 0x0112) return u16(entry + 8).takeIf { it in 1..8 } ?: 1
        }
        return 1
    }

    private fun u8(b: ByteArray, at: Int): Int = b[at].toInt() and 0xFF
}
