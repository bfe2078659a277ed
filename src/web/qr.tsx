/**
 * A QR code drawn as SVG elements (no canvas, no data: URL, nothing inline for the CSP to refuse), dark modules on
 * a light square with the quiet zone the standard asks for, so that phone cameras read it in dark mode too.
 */
import { create } from 'qrcode';
import { useMemo } from 'react';

const QUIET = 4;

export function QrCode({ text, label, size = 224 }: { text: string; label: string; size?: number }) {
  const { path, width } = useMemo(() => {
    const { modules } = create(text, { errorCorrectionLevel: 'M' });
    const n = modules.size;
    let d = '';
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        if (modules.get(y, x)) d += `M${x + QUIET} ${y + QUIET}h1v1h-1z`;
      }
    }
    return { path: d, width: n + 2 * QUIET };
  }, [text]);
  return (
    <svg
      className="qr"
      role="img"
      aria-label={label}
      width={size}
      height={size}
      viewBox={`0 0 ${width} ${width}`}
      shapeRendering="crispEdges"
    >
      <rect width={width} height={width} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}
