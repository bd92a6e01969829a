package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// Files of the repository the package ships, relative to its root.
const (
	configSource    = "pipelines/logjail.yaml"
	unitSource      = "cmd/logjail/systemd/logjail.service"
	sysusersSource  = "cmd/logjail/systemd/logjail.sysusers"
	tmpfilesSource  = "cmd/logjail/systemd/logjail.tmpfiles"
	bashSource      = "cmd/logjail/completion/logjail.bash"
	zshSource       = "cmd/logjail/completion/_logjail"
	configManSource = "cmd/logjail/man/logjail.yaml.5.md"
	scriptsDir      = "cmd/mkdeb/scripts"
)

// Package metadata.
const (
	homepage    = "https://github.com/logjail/logjail"
	description = `ban the addresses your logs accuse (a streaming fail2ban)
 logjail reads log streams (files, the systemd journal, syslog, NATS),
 recognises failed logins and other abuse with fail2ban-compatible filters,
 counts them per source address in sliding windows and bans the offenders
 in an nftables table of its own, each ban with its timeout in the kernel.
 It runs as the unprivileged user logjail with CAP_NET_ADMIN and
 CAP_DAC_READ_SEARCH only.`
)

// debArch is Debian's name for a Go architecture where the two differ.
var debArch = map[string]string{
	"386": "i386", "arm": "armhf", "ppc64le": "ppc64el",
	"mipsle": "mipsel", "mips64le": "mips64el",
}

// shipped is what goes into the package besides the repository's files.
type shipped struct {
	bin  string // the logjail binary
	docs generated
}

// contents lists every file of the package: destination, source, mode
// and type (a conffile, or a plain file).
func contents(root string, s shipped) files.Contents {
	repo := func(p string) string { return filepath.Join(root, p) }
	entry := func(dst, src string, mode os.FileMode, typ string) *files.Content {
		return &files.Content{Destination: dst, Source: src, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode}}
	}
	return files.Contents{
		entry("/usr/bin/logjail", s.bin, 0o755, ""),
		// An edited configuration survives upgrades (dpkg asks) and removal.
		entry("/etc/logjail/logjail.yaml", repo(configSource), 0o644, files.TypeConfigNoReplace),
		entry("/usr/lib/systemd/system/logjail.service", repo(unitSource), 0o644, ""),
		entry("/usr/lib/sysusers.d/logjail.conf", repo(sysusersSource), 0o644, ""),
		entry("/usr/lib/tmpfiles.d/logjail.conf", repo(tmpfilesSource), 0o644, ""),
		entry("/usr/share/man/man1/logjail.1.gz", s.docs.manCommand, 0o644, ""),
		entry("/usr/share/man/man5/logjail.yaml.5.gz", s.docs.manConfig, 0o644, ""),
		entry("/usr/share/bash-completion/completions/logjail", repo(bashSource), 0o644, ""),
		entry("/usr/share/zsh/vendor-completions/_logjail", repo(zshSource), 0o644, ""),
		entry("/usr/share/fish/vendor_completions.d/logjail.fish", s.docs.fish, 0o644, ""),
	}
}

// writePackage writes out/logjail_VERSION_ARCH.deb and returns its path.
// depends are the Depends beside those every build has.
func writePackage(root, out, version, arch, maintainer string, s shipped, depends []string) (string, error) {
	script := func(name string) string { return filepath.Join(root, scriptsDir, name) }
	info := &nfpm.Info{
		Name:          "logjail",
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none", // already a Debian version
		Section:       "net",
		Priority:      "optional",
		Maintainer:    maintainer,
		Description:   description,
		Homepage:      homepage,
		Overridables: nfpm.Overridables{
			// systemd: systemctl, systemd-sysusers and systemd-tmpfiles in
			// the maintainer scripts; libsystemd0: the journald source
			// (loaded at run time). nft is only for looking at the table.
			Depends:  append(depends, "libsystemd0", "systemd"),
			Suggests: []string{"nftables"},
			Contents: contents(root, s),
			Scripts: nfpm.Scripts{
				PostInstall: script("postinst"),
				PreRemove:   script("prerm"),
				PostRemove:  script("postrm"),
			},
			Deb: nfpm.Deb{Arch: arch},
		},
	}
	packager, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(out, fmt.Sprintf("logjail_%s_%s.deb", version, arch))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := packager.Package(nfpm.WithDefaults(info), f); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return path, f.Close()
}
