// The README's examples, read by the tests that run them, so the docs and
// the tests cannot drift apart; and a scratch project laid out as a reader's.
//
//   const files = readmeFiles('Use it with Vite')   // { 'vite.config.js': '...', 'main.js': '...' }
//   const dir = await readerProject(t)                // dir/node_modules: the e2e packages
//   const app = await makeReaderApp('Use it with Vite') // the section's `mkdir ...` steps, npm offline
//   const browser = await launchChromium()            // Debian's /usr/bin/chromium, headless
import { execFile } from 'node:child_process'
import { chromium } from 'playwright-core'
import { readFileSync, realpathSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { repoRoot } from './host.mjs'
import { scratchDir } from './util.mjs'

const here = dirname(fileURLToPath(import.meta.url))

/** The text of README section `## title` (up to the next `## `); doc: another page, e.g. 'docs/vite.md'. */
export function readmeSection(title, doc = 'README.md') {
  const readme = readFileSync(join(repoRoot, doc), 'utf8')
  const parts = readme.split(`\n## ${title}\n`)
  if (parts.length !== 2) throw new Error(`${doc} has no single section "## ${title}"`)
  return parts[1].split('\n## ')[0]
}

/** The fenced blocks of a section: [{ lang, text }]. */
export function readmeBlocks(title, doc) {
  return [...readmeSection(title, doc).matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }))
}

/**
 * The files a section shows: every block whose first line names a file
 * (`// main.js`, `<!-- index.html -->`, `// devtools.js (remark)`, `// src/a.js`), by name.
 */
export function readmeFiles(title, doc) {
  const files = {}
  for (const { text } of readmeBlocks(title, doc)) {
    const m = /^(?:\/\/|<!--)\s*([\w.-]+(?:\/[\w.-]+)*\.\w+)\b/.exec(text)
    if (m) files[m[1]] = text
  }
  return files
}

/** Runs a program to completion; rejects with its output when it fails. */
export function run(file, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 120000, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/**
 * A scratch directory for a reader's project: its node_modules is a link to
 * the e2e packages (vite, ws, @vitejs/devtools-kit, typescript), so Node,
 * npx and Vite find them from any project made inside it, with no registry.
 */
export function readerProject() {
  const dir = realpathSync(scratchDir('moonhost-e2e-reader-'))
  symlinkSync(join(here, '..', 'node_modules'), join(dir, 'node_modules'))
  return dir
}

/** npm, offline: the packages installed here never come from a registry. */
export function npmOffline(args, cwd) {
  return run('npm', [...args, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd })
}

/**
 * Runs the shell block of a section that makes the app (the one that starts
 * with `mkdir NAME`) in a fresh reader project, npm offline (MOONHOST is
 * this tree; Vite comes from the e2e packages); returns the app's directory.
 */
export async function makeReaderApp(title, doc) {
  const dir = readerProject()
  const setup = readmeBlocks(title, doc).find((b) => b.lang === 'sh' && b.text.startsWith('mkdir '))
  if (!setup) throw new Error(`"## ${title}" does not start with the shell steps that make the app`)
  const script = setup.text
    .replaceAll('MOONHOST', repoRoot)
    .replace('npm install vite@7 ', 'npm install ') // Vite: the e2e packages' (dir/node_modules)
  const env = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' }
  await run('sh', ['-ec', script], { cwd: dir, env })
  return join(dir, /^mkdir (\S+)/.exec(setup.text)[1])
}

/** Headless Debian Chromium (never a downloaded browser), with a scratch profile. */
export function launchChromium() {
  return chromium.launchPersistentContext(scratchDir('moonhost-e2e-chromium-'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  })
}
