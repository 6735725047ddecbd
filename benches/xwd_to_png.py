"""Converts 24/32-bit TrueColor XWD screenshots (as `xwd -root` writes them) to PNG, with the
standard library only: `python3 xwd_to_png.py FILE.xwd...` writes FILE.png beside each."""
import struct
import sys
import zlib


def convert(source, target):
    data = open(source, "rb").read()
    header = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order = header[0], header[4], header[5], header[7]
    bytes_per_line, colours = header[12], header[19]
    pixels = data[header_size + colours * 12:]
    red, green, blue = (2, 1, 0) if byte_order == 0 else (1, 2, 3)
    lines = []
    for y in range(height):
        line = pixels[y * bytes_per_line:y * bytes_per_line + width * 4]
        rgb = bytearray(width * 3)
        rgb[0::3], rgb[1::3], rgb[2::3] = line[red::4], line[green::4], line[blue::4]
        lines.append(b"\x00" + bytes(rgb))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(target, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        out.write(chunk(b"IDAT", zlib.compress(b"".join(lines), 6)))
        out.write(chunk(b"IEND", b""))


for name in sys.argv[1:]:
    convert(name, name[: -len(".xwd")] + ".png")
