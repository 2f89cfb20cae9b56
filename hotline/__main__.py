from hotline.cli import entry

entry()
