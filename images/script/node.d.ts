// Node.js as seen by tsc without @types/node: its globals and every module
// are `any`. Programs are still checked strictly against their own types.
declare var require: any;
declare var process: any;
declare var module: any;
declare var exports: any;
declare var Buffer: any;
declare var __dirname: string;
declare var __filename: string;
declare module "*";
