#!/usr/bin/env node
// Runs api-extractor for the package in the current folder.
//   vl-api            check: fails when the public API differs from etc/<name>.api.md
//   vl-api --local    update etc/<name>.api.md after an intended API change
//   vl-api --prove-fails  adds an export (whose type is not exported) to a throwaway entry point
//                     and asserts the check rejects it, so CI knows the guard can fail
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const args = new Set(process.argv.slice(2));
const configPath = resolve('api-extractor.json');
mkdirSync(resolve('etc'), { recursive: true });

function run(config, localBuild) {
  const messages = [];
  const result = Extractor.invoke(config, {
    localBuild,
    showVerboseMessages: false,
    messageCallback: (m) => {
      messages.push(m);
    },
  });
  return { result, messages };
}

if (args.has('--prove-fails')) {
  const probe = resolve('dist/__api_probe__.d.ts');
  writeFileSync(
    probe,
    [
      "export * from './index.js';",
      'interface ApiProbeHidden { readonly x: number }',
      'export declare function apiProbe(): ApiProbeHidden;',
      'export {};',
      '',
    ].join('\n'),
  );
  try {
    const raw = ExtractorConfig.loadFile(configPath);
    raw.mainEntryPointFilePath = probe;
    raw.apiReport = { ...raw.apiReport, reportTempFolder: resolve('temp/probe') };
    const config = ExtractorConfig.prepare({
      configObject: raw,
      configObjectFullPath: configPath,
      packageJsonFullPath: resolve('package.json'),
    });
    const { result, messages } = run(config, false);
    const forgotten = messages.some((m) => m.messageId === 'ae-forgotten-export');
    if (result.succeeded || !result.apiReportChanged || !forgotten) {
      console.error(
        `api check did NOT fail on a changed API (succeeded=${result.succeeded}, ` +
          `apiReportChanged=${result.apiReportChanged}, ae-forgotten-export=${forgotten})`,
      );
      process.exit(1);
    }
    console.log(
      `api check fails as it should on an unreported export (apiReportChanged, ae-forgotten-export): ok`,
    );
  } finally {
    rmSync(probe, { force: true });
    rmSync(resolve('temp/probe'), { recursive: true, force: true });
  }
  process.exit(0);
}

const config = ExtractorConfig.loadFileAndPrepare(configPath);
const local = args.has('--local');
const { result, messages } = run(config, local);
for (const m of messages) {
  if (m.logLevel !== 'error' && m.logLevel !== 'warning') continue;
  const where = m.sourceFilePath ? `${m.sourceFilePath}:${m.sourceFileLine}: ` : '';
  console.error(`${m.logLevel}: ${where}${m.text} (${m.messageId})`);
}
if (!result.succeeded) {
  if (result.apiReportChanged && !local) {
    console.error(
      `\nThe public API of ${config.packageJson?.name ?? 'this package'} changed. If intended, run \`pnpm api:update\` ` +
        'and commit etc/*.api.md together with a changeset.',
    );
  }
  process.exit(1);
}
console.log(`api report ${local ? 'updated' : 'matches'} for ${config.packageJson?.name ?? 'this package'}`);
