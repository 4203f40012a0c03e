/** PNG plots: the SVG plot rendered with resvg (a maintained SVG renderer, no browser). */
import { Resvg } from '@resvg/resvg-js';

/** Renders an SVG document to PNG bytes at its own width. */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'sans-serif' } }).render().asPng();
}
