/** Locations inside the installed package, independent of the working directory. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

// Compiled files live in dist/src/common/, so the package root is three levels up.
export const packageRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const protoRoot: string = path.join(packageRoot, 'proto');
